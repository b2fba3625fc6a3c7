"""Trains a tiny PyTorch model the way a SageMaker training script does and saves its weights:
torch.save(model.state_dict(), model_dir + '/model.pth'), plus a full training checkpoint."""
import os
import sys

import torch

model_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SM_MODEL_DIR", "model")
os.makedirs(model_dir, exist_ok=True)
torch.manual_seed(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
x = torch.randn(256, 10)
y = x @ torch.randn(10, 1) + 0.1 * torch.randn(256, 1)
model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(1, 51):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
print(f"trained 50 epochs, loss={loss.item():.4f}")
torch.save(model.state_dict(), os.path.join(model_dir, "model.pth"))
torch.save({"epoch": 50, "model_state_dict": model.state_dict(),
            "optimizer_state_dict": opt.state_dict(), "loss": loss.item()},
           os.path.join(model_dir, "checkpoint.pth"))
