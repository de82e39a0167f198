# The finetune-action container: GitHub builds it from this file for `runs.using: docker`.
# No USER and no WORKDIR: the runner mounts the workspace at /github/workspace, sets --workdir,
# and runs as root so the action can write the step's output files.
# Python 3.11, the version of Debian bookworm's python3 that our CI's offline base image has,
# so CI tests the interpreter users get.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
COPY . /src
# Online (GitHub): dependencies come from PyPI. Offline (our CI, which reaches no registry
# from inside a build): a wheels/ directory in the build context holds wheels of every build
# and run-time requirement in pyproject.toml, made on the host (testing/docker.py), and
# nothing is fetched.
# The open-models extra (the packages that ship the Llama and Mistral tokenizer files) is
# installed without its dependencies, so the image counts every family exactly: we read only
# their data files and never import them, and their own dependencies (numpy, pillow, pycountry,
# huggingface-hub, ...) made the image 459 MB instead of 319 MB, for code that never runs. The list is read from
# pyproject.toml, so it cannot drift from the extra. Of those two packages only the two tokenizer
# files counting reads stay (tokens/package_files.py names them; their licences stay in dist-info):
# their other tokenizer versions and their own code, 24 MB, never run.
# Only what runs is copied to the final stage: pip and setuptools are removed (the action never
# installs anything at run time), and so are the test suites some packages ship. The bytecode
# pip writes is kept: a container starts from a fresh filesystem every run, so without it every
# import would compile again (bench/startup.py measures it).
RUN python3 -m venv /opt/finetune \
 && if [ -d /src/wheels ]; then set -- --no-index --find-links /src/wheels; fi \
 && /opt/finetune/bin/pip install --no-cache-dir --disable-pip-version-check "$@" /src \
 && /opt/finetune/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['optional-dependencies']['open-models']))" > /tmp/open-models.txt \
 && /opt/finetune/bin/pip install --no-cache-dir --disable-pip-version-check "$@" --no-deps -r /tmp/open-models.txt \
 && /opt/finetune/bin/python -m finetune_action.tokens.package_files "$(/opt/finetune/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
 && /opt/finetune/bin/pip uninstall --yes --quiet pip setuptools \
 && find /opt/finetune/lib -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +

FROM ${PYTHON_IMAGE} AS runtime
# The diff against the base branch runs git in the workspace, which the runner mounts owned by
# another user. Bases that ship git already (our CI's) skip apt; its version is Debian's
# stable one, which is the pin we want.
# hadolint ignore=DL3008
RUN if ! command -v git >/dev/null; then \
      apt-get update \
      && apt-get install --yes --no-install-recommends git; \
    fi \
 && git config --system --add safe.directory '*'
COPY --from=build /opt/finetune /opt/finetune
COPY image/rootfs.py /tmp/rootfs.py
# The final stage holds only what runs: the virtualenv, the interpreter and the part of its
# standard library we can import, git, /bin/sh, their shared libraries and a few files of /etc
# (image/rootfs.py says what and why). No apt, dpkg, perl or coreutils: on the stand-in base of
# bench/startup.py the image went from 296 MB to 158 MB. The standard library is compiled
# first: python:3.11-slim ships it without bytecode, so every run would compile its imports again.
RUN python3 -m compileall -q -j 0 -x '/(test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip|pydoc_data)/' "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')" \
 && python3 /tmp/rootfs.py /rootfs

FROM scratch
COPY --from=runtime /rootfs /
# Unbuffered so stdout and stderr reach the Actions log in the order they were written. A
# FROM scratch image inherits no environment: PATH and LANG as the Python base sets them.
ENV PATH="/opt/finetune/bin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 PYTHONUNBUFFERED=1
# By absolute path: a workflow-level `env: PATH` replaces the image's PATH.
ENTRYPOINT ["/opt/finetune/bin/finetune", "action"]
