"""``python -m cnnfilter``: the same CLI as the ``cnnfilter`` console script."""

from cnnfilter.cli import main

if __name__ == "__main__":
    main()
