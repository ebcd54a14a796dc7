from lmlab.cli.main import main

raise SystemExit(main())
