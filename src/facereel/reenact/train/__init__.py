"""Training of the thesis' transfer network: data pipeline, pair sampling, losses, Ranger, the loop.

See :mod:`.data`, :mod:`.losses`, :mod:`.ranger`, :mod:`.trainer`; :func:`.run.train_from_folder`
is what ``facereel reenact train DATA -o run/`` calls.
"""
