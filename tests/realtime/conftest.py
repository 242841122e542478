from tests.realtime.fixtures import connect_socket, http, live_chat, socket_server, token_for

__all__ = ["connect_socket", "http", "live_chat", "socket_server", "token_for"]
