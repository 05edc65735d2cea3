import sys

from inspector.ui.app import main

sys.exit(main(sys.argv[1:]))
