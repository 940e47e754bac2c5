from credit_monitor.cli import main

raise SystemExit(main())
