"""``python -m editlib.reproduce``: the notebook suite's command line (:mod:`editlib.suite.reproduce`)."""
from editlib.suite.reproduce import main

if __name__ == "__main__":
    main()
