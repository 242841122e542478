// Socket.IO relay with the chat's event names and payloads, but no storage and no auth
// check beyond a non-empty token: the baseline that bench/chat_bench.py compares the
// Python gateway against. Usage: node relay.js [port] (default 3100, loopback only).
"use strict";

const http = require("node:http");
const { randomUUID } = require("node:crypto");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || process.env.PORT || 3100);

const httpServer = http.createServer((request, response) => {
  response.writeHead(404).end();
});

const io = new Server(httpServer, {
  path: "/socket.io",
  serveClient: false,
  // The Python gateway does not compress either; see bench/chat_bench.py.
  perMessageDeflate: false,
  maxHttpBufferSize: 256 * 1024, // the Python gateway's limit
  pingInterval: 25000,
  pingTimeout: 20000,
});

io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (typeof token !== "string" || token.length === 0) {
    const error = new Error("missing token");
    error.data = { code: "auth.missing_token" };
    next(error);
    return;
  }
  // The bench passes "user:<id>" as the token so the relay can put the socket in its room.
  socket.data.userId = token;
  next();
});

io.on("connection", (socket) => {
  socket.join(`user:${socket.data.userId}`);

  socket.on("join_conversation", (data, ack) => {
    const conversationId = data && data.conversationId;
    if (typeof conversationId !== "string") {
      if (typeof ack === "function") ack({ error: { code: "chat.id_invalid" } });
      return;
    }
    socket.join(`conversation:${conversationId}`);
    if (typeof ack === "function") ack({ ok: true });
  });

  socket.on("send_message", (data, ack) => {
    const conversationId = data && data.conversationId;
    if (typeof conversationId !== "string" || typeof data.body !== "string") {
      if (typeof ack === "function") ack({ error: { code: "chat.body_invalid" } });
      return;
    }
    const message = {
      id: randomUUID(),
      conversationId,
      senderId: socket.data.userId,
      body: data.body,
      clientMessageId: data.clientMessageId,
      createdAt: new Date().toISOString(),
    };
    if (typeof ack === "function") {
      ack({ id: message.id, conversationId, clientMessageId: data.clientMessageId,
            createdAt: message.createdAt, duplicate: false });
    }
    socket.to(`conversation:${conversationId}`).emit("new_message", message);
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`relay listening on http://127.0.0.1:${port}/socket.io`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    io.close(() => process.exit(0));
  });
}
