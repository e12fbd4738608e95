from invalidator.cli.main import main

main()
