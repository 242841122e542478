from tests.realtime.fixtures import connect_socket, live_chat, socket_server, token_for

__all__ = ["connect_socket", "live_chat", "socket_server", "token_for"]
