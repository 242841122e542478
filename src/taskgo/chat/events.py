"""Socket.IO events of the order chat."""

import socketio


def register(sio: socketio.AsyncServer) -> None:
    """Attach the chat's event handlers to ``sio``."""
    # TODO: join_conversation, send_message and messages_read land with the chat service.
    del sio
