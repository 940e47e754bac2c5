from credit_monitor_cli import main

raise SystemExit(main())
