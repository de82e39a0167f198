"""A succeeded job's ending: model.json written, the eval run (when the config has one) and the
model recorded as a GitHub release (when there is a token and a repository).
"""
from __future__ import annotations

from finetune_action import check as checking
from finetune_action import git
from finetune_action.config import Config
from finetune_action.errors import EXIT_OK, EXIT_PROBLEMS, FinetuneError, GitHubError, ProviderError
from finetune_action.evaluation import session, verdict
from finetune_action.github import api, releases
from finetune_action.providers.base import Job, Provider
from finetune_action.training import launch, record
from finetune_action.training.run import Outcome, Run


def _metrics(run: Run, provider: Provider, job: Job) -> bytes | None:
    """The job's step-metrics CSV, secrets redacted (the file, the asset and the notes alike); None
    when it has none, or when it cannot be read: the model it paid for is recorded all the same."""
    if not job.result_files:
        return None
    try:
        return record.redacted_bytes(provider.file_content(job.result_files[0]))
    except ProviderError as exc:
        run.display.warning(f"job {job.id}: its metrics file {job.result_files[0]} could not be read ({exc}); the model is recorded without {record.METRICS_CSV}.")
        return None


def succeeded(config: Config, run: Run, provider: Provider, job: Job, fp: str, report: checking.ConfigReport) -> tuple[Outcome, str]:
    """Record, evaluate and release the model; a release that fails keeps the record and says how to re-run."""
    say = run.display.line
    if not isinstance(job.fine_tuned_model, str) or not job.fine_tuned_model:
        # Recorded, it would be a model.json and a release naming no model: wait for the name instead.
        message = (f"{config.display_path}: job {job.id} says it succeeded but names no fine-tuned model; nothing is recorded yet. "
                   f"Run `finetune resume` (or the action with mode: resume) later to record it once {provider.label} names the model.")
        run.display.error(message, f"finetune {run.mode}: {config.display_path}")
        return Outcome(EXIT_PROBLEMS, job.status, job.id), f"### {config.name}: succeeded, not recorded\n\n{message}\n"
    commit = job.metadata.get("finetune_commit") or run.commit or git.head_sha(config.root)
    prepared = launch.prepare_files(config, fp, None)  # the same bytes as uploaded: their sha256 for the record
    checkpoints = provider.list_checkpoints(job.id)
    metrics = _metrics(run, provider, job)
    model = record.model_record(
        config=config,
        job=job,
        fingerprint=fp,
        prepared=prepared,
        checkpoints=checkpoints,
        estimated_cost_usd=report.estimated_cost_usd,
        estimated_billed_tokens=report.billed_tokens,
        provider_label=provider.label,
        commit=commit,
        repository=run.repository,
        metrics_csv=metrics is not None,
    )
    evaluated = _evaluate(config, run, model, record.release_tag(config, job, commit)) if config.eval else None
    path = record.write_record(record.output_dir(config), model, metrics)
    notes = record.notes(model, record.parse_metrics(metrics) if metrics else []) + (f"\n{evaluated.notes}" if evaluated else "")
    say(f"{config.display_path}: succeeded: {job.fine_tuned_model} (trained_tokens {job.trained_tokens}); record written to {path}")
    outcome = Outcome(EXIT_OK, job.status, job.id, job.fine_tuned_model or "", "", str(path), *_eval_outputs(evaluated))
    not_run = evaluated is not None and "gate" not in evaluated.block  # _evaluate said why, as an error
    if evaluated and not evaluated.passed:
        # Recorded and released all the same: the model is kept, the release says it did not pass
        # (or that the eval did not run: that ending read the gate's reasons and crashed before the release).
        if not not_run:
            run.display.error(f"{config.display_path}: {job.fine_tuned_model} did not pass the eval gate: {'; '.join(evaluated.block['gate']['reasons'])}. The model is kept and recorded.", "finetune eval gate")
        outcome = outcome._replace(exit_code=EXIT_PROBLEMS)
    if run.github is None:
        say("release skipped: set GITHUB_TOKEN and GITHUB_REPOSITORY to record the model as a GitHub release")
        return outcome, notes
    tag = record.release_tag(config, job, commit)
    assets = [releases.Asset(record.MODEL_JSON, record.record_json(model).encode("utf-8"))]
    if metrics is not None:
        assets.append(releases.Asset(record.METRICS_CSV, metrics, "text/csv"))
    client = api.client_from_env(run.github.env, run.github.token)
    try:
        existing = _released(client, run.github.repository, tag) if run.mode == "resume" else None
        if existing:
            # A scheduled resume comes back every hour: leave a finished record alone.
            say(f"release {tag} already holds {record.MODEL_JSON}: nothing to update")
            return outcome._replace(release_url=existing), notes
        result = releases.publish_release(
            client, run.github.repository, tag, f"{config.name}: {job.fine_tuned_model}" + (" (eval not run)" if not_run else " (did not pass the eval gate)" if evaluated and not evaluated.passed else ""), notes, assets,
            target_commitish=commit if run.github.target_commit and commit else None,
        )
    except GitHubError as exc:
        run.display.error(f"the model is trained ({job.fine_tuned_model}) and {path} written, but the release failed: {exc} Re-run: the job is reused, not trained again.", "finetune release")
        return outcome._replace(exit_code=EXIT_PROBLEMS), notes
    finally:
        client.close()
    say(f"release {tag} {'created' if result.created else 'updated'}: {result.url}")
    return outcome._replace(release_url=result.url), notes


def _evaluate(config: Config, run: Run, model: dict, tag: str) -> session.Outcome | None:
    """The eval after training, into model["eval"]; an eval that cannot run is recorded as such, never loses the model."""
    try:
        previous = _previous_release(config, run, tag)
        evaluated = session.run(config, model, run.env, log=run.display.line, previous=previous[1] if previous else None, previous_release=previous[0] if previous else None)
    except session.Stopped:
        raise  # a cancelled run: the answers so far are cached; resume evaluates and records
    except FinetuneError as exc:
        run.display.error(f"{config.display_path}: the model is trained, but the eval could not run: {exc} Run `finetune eval {config.display_path}` once fixed.", "finetune eval")
        model["eval"] = {"error": str(exc)}
        return session.Outcome(model["eval"], f"### Evaluation: not run\n\n{exc}\n", False)
    model["eval"] = evaluated.block
    return evaluated


def _previous_release(config: Config, run: Run, tag: str) -> tuple[str, dict] | None:
    """For eval.gate.no_regressions: the newest release of this config that passed, from its own model.json."""
    if not (config.eval and config.eval.gate.no_regressions and run.github):
        return None
    client = api.client_from_env(run.github.env, run.github.token)
    try:
        found = releases.previous_record(client, run.github.repository, config.name, tag)
    finally:
        client.close()
    run.display.line(f"eval: previous release {found[0]} ({found[1].get('fine_tuned_model')})" if found else "eval: no earlier release of this config passed its eval: no_regressions has nothing to hold yet")
    return found


def _eval_outputs(evaluated: session.Outcome | None) -> tuple[str, str]:
    """The eval-passed and eval-summary step outputs."""
    if evaluated is None:
        return "", ""
    summary = verdict.headline(evaluated.block) if "gate" in evaluated.block else evaluated.block.get("error", "")
    return ("true" if evaluated.passed else "false"), summary


def _released(client: api.GitHubClient, repository: str, tag: str) -> str | None:
    """The URL of the release for `tag` when it already has a model.json."""
    release = api.get_release_by_tag(client, repository, tag)
    if release and any(a.name == record.MODEL_JSON for a in api.list_release_assets(client, repository, release.id)):
        return release.html_url
    return None
