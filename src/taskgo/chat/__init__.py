"""Order chat between a purchase's buyer and seller, over Socket.IO with an HTTP history."""
