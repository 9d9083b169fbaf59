# %% [markdown]
# # Simple MNIST convnet
#
# The Keras recipe "Simple MNIST convnet", line for line in deepgrad: two convolution
# blocks (a 3x3 convolution with ReLU, then 2x2 max pooling) learn local features such
# as strokes and corners, a Flatten turns the 5x5x64 feature maps into one vector,
# Dropout(0.5) regularises it and a softmax Dense layer gives the 10 class probabilities.
# Keras reports about 99% test accuracy after 15 epochs; the model has 34,826 parameters.
#
# Run `python examples/mnist_convnet.py` for the full recipe (15 epochs on the 60,000
# training images), or with `--quick` for a few seconds on a small slice. The MNIST files
# are read from the data cache (``$DEEPGRAD_DATA`` or ``~/.deepgrad/datasets``) and
# downloaded from the original mirrors when missing.

# %%
import argparse
import os
import sys
import time

import numpy as np

import deepgrad as dg
from deepgrad.datasets import mnist
from deepgrad.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from deepgrad.models import Sequential
from deepgrad.utils import to_categorical

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a small slice and 2 epochs, a few seconds")
parser.add_argument("--epochs", type=int, default=None, help="epochs to train (default 15, 2 with --quick)")
args, _ = parser.parse_known_args(sys.argv[1:])
args.quick = args.quick or os.environ.get("DEEPGRAD_EXAMPLE_QUICK") == "1"  # a notebook's sys.argv is the kernel's

# %% [markdown]
# ## Prepare the data
#
# The images are uint8 of shape (n, 28, 28): scale the pixels to [0, 1] and add the
# channel axis (one grey channel), since Conv2D expects (height, width, channels).
# The labels become one-hot rows for the categorical cross-entropy.

# %%
num_classes = 10
input_shape = (28, 28, 1)

(x_train, y_train), (x_test, y_test) = mnist.load_data()
if args.quick:
    x_train, y_train, x_test, y_test = x_train[:512], y_train[:512], x_test[:256], y_test[:256]
x_train = (x_train.astype("float32") / 255)[..., None]
x_test = (x_test.astype("float32") / 255)[..., None]
print("x_train shape:", x_train.shape)
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

y_train = to_categorical(y_train, num_classes)
y_test = to_categorical(y_test, num_classes)

# %% [markdown]
# ## Build the model

# %%
dg.manual_seed(0)
model = Sequential([
    Input(shape=input_shape),
    Conv2D(32, kernel_size=(3, 3), activation="relu"),
    MaxPooling2D(pool_size=(2, 2)),
    Conv2D(64, kernel_size=(3, 3), activation="relu"),
    MaxPooling2D(pool_size=(2, 2)),
    Flatten(),
    Dropout(0.5),
    Dense(num_classes, activation="softmax"),
])
model.summary()

# %% [markdown]
# ## Train the model
#
# Adam, batches of 128 images, 15 epochs; the last 10% of the training images are held
# out to watch the validation accuracy while training.

# %%
batch_size = 128
epochs = args.epochs or (2 if args.quick else 15)

model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
start = time.perf_counter()
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,
                    verbose=0 if args.quick else 2)
seconds = time.perf_counter() - start
print(f"training: {seconds:.1f} s, {seconds / epochs:.1f} s per epoch")

# %% [markdown]
# ## Evaluate the trained model

# %%
score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", float(score[0]))
print("Test accuracy:", float(score[1]))
assert np.isfinite(score[0])
