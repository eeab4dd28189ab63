from teddy.cli import main

raise SystemExit(main())
