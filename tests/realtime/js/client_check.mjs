// Drives the gateway with the stock socket.io-client v4 and prints one JSON line of
// observations for test_js_client.py to assert on. Arguments come from the environment:
// TASKGO_URL, BUYER_TOKEN, SELLER_TOKEN, CONVERSATION_ID.
import { io } from "socket.io-client";

const url = process.env.TASKGO_URL;
const conversationId = process.env.CONVERSATION_ID;
const deadline = setTimeout(() => {
  console.error("timed out after 20 s");
  process.exit(2);
}, 20000);

function open(auth, transports) {
  return io(url, { path: "/socket.io", auth, transports, reconnection: false, forceNew: true });
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

function rejection(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", () => reject(new Error("connected without a valid token")));
    socket.once("connect_error", (error) => {
      socket.close();
      resolve({ message: error.message, data: error.data });
    });
  });
}

const result = {};
result.missingToken = await rejection(open({}, ["websocket"]));
result.badToken = await rejection(open({ token: "not-a-jwt" }, ["polling"]));

// The buyer starts on HTTP long-polling and upgrades; the seller uses WebSocket only.
const buyer = await connected(open({ token: process.env.BUYER_TOKEN }, ["polling", "websocket"]));
const seller = await connected(open({ token: process.env.SELLER_TOKEN }, ["websocket"]));
const received = [];
seller.on("new_message", (message) => received.push(message));
const buyerReceived = [];
buyer.on("new_message", (message) => buyerReceived.push(message));

result.buyerJoin = await buyer.timeout(5000).emitWithAck("join_conversation", { conversationId });
result.sellerJoin = await seller.timeout(5000).emitWithAck("join_conversation", { conversationId });
result.ack = await buyer.timeout(5000).emitWithAck("send_message", {
  conversationId,
  body: "Olá do cliente JS ✓",
  clientMessageId: "js-1",
});
result.invalid = await buyer.timeout(5000).emitWithAck("send_message", {
  conversationId,
  body: "",
  clientMessageId: "js-2",
});

const waitUntil = Date.now() + 5000;
while (received.length < 1 && Date.now() < waitUntil) {
  await new Promise((resolve) => setTimeout(resolve, 50));
}
await new Promise((resolve) => setTimeout(resolve, 300));
result.received = received;
result.buyerReceived = buyerReceived;
result.buyerTransport = buyer.io.engine.transport.name;

buyer.close();
seller.close();
clearTimeout(deadline);
console.log(JSON.stringify(result));
