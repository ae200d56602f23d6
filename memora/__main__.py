from memora.cli import main

main()
