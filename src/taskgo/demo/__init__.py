"""Demo data for `taskgo dev` and the `taskgo demo` walk-through of every drawn flow.

`seed` writes demo accounts and products straight into the database before the server
starts. Everything else in this package is an HTTP and Socket.IO client of a running
server: it acts only through the public API, as the client and partner apps do.
"""
