"""`python -m peft_efficiency.demo`: see `peft_efficiency.demo.cli`."""

from peft_efficiency.demo.cli import main

raise SystemExit(main())
