from __future__ import annotations

from finetune_action.main import main

raise SystemExit(main())
