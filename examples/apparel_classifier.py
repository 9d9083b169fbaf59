# %% [markdown]
# # Image classification problem: find the type of apparel
#
# The course's worked application: given a 28x28 grey photo of a piece of clothing,
# predict which of 10 types it is (T-shirt/top, trouser, pullover, dress, coat, sandal,
# shirt, sneaker, bag, ankle boot). The data is Zalando's Fashion-MNIST: 60,000 training
# and 10,000 test images.
#
# The model is a small CNN (type 2 network: image processing). Convolution layers slide
# small learned filters over the image and respond to local patterns (edges, then
# collars, soles, straps); max pooling halves the resolution so later filters see larger
# parts of the image. Before them, augmentation layers show the network slightly changed
# copies of each training image (mirrored left-right, shifted by a pixel or two), so it
# learns the garment rather than its exact position: they act only while training.
# BatchNormalization keeps each layer's inputs on a steady scale (faster, stabler
# learning) and Dropout switches off random units, both against overfitting.
#
# Training holds out 10% of the training images (validation split) and stops early once
# the validation loss stops improving, going back to the best epoch's weights. The
# figures (training history, confusion matrix, misclassified images) are saved as PNGs
# into the output folder.
#
# Run `python examples/apparel_classifier.py [--output DIR]` for the full run (at most
# 15 epochs), or with `--quick` for a few seconds on a small slice. Measured full run:
# **91.4% test accuracy** (all 15 epochs, weights of epoch 14 restored; 34-42 s per epoch
# on 2 CPU cores).

# %%
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import deepgrad as dg
from deepgrad import plot
from deepgrad.callbacks import EarlyStopping
from deepgrad.datasets import fashion_mnist
from deepgrad.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
    RandomFlip,
    RandomTranslation,
)
from deepgrad.models import Sequential

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a small slice and 2 epochs, a few seconds")
parser.add_argument("--output", default="apparel_output", help="folder for the PNG figures")
parser.add_argument("--epochs", type=int, default=None, help="most epochs to train (default 15, 2 with --quick)")
args, _ = parser.parse_known_args(sys.argv[1:])
args.quick = args.quick or os.environ.get("DEEPGRAD_EXAMPLE_QUICK") == "1"  # a notebook's sys.argv is the kernel's
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The data
#
# Pixels are scaled from 0..255 to 0..1 and given a channel axis: Conv2D reads images as
# (height, width, channels), one channel for grey. Labels stay class ids 0..9, so the
# loss is the sparse categorical cross-entropy.

# %%
class_names = fashion_mnist.FASHION_CLASS_NAMES
(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
if args.quick:
    x_train, y_train, x_test, y_test = x_train[:512], y_train[:512], x_test[:256], y_test[:256]
x_train = (x_train.astype("float32") / 255)[..., None]
x_test = (x_test.astype("float32") / 255)[..., None]
print(f"{len(x_train)} training and {len(x_test)} test images of shape {x_train.shape[1:]}")
print("classes:", ", ".join(class_names))

# %% [markdown]
# ## The model
#
# Augmentation, then three convolution blocks (pooling after the first two), then a small
# dense classifier. Batch normalization sits after the last convolution, where the
# feature maps are small (5x5x64): normalising the 28x28 maps of the first block would
# cost several times its convolution. That convolution has no bias: the
# BatchNormalization right after it adds its own shift.

# %%
dg.manual_seed(0)
model = Sequential([
    Input(shape=(28, 28, 1)),
    RandomFlip("horizontal", seed=1),
    RandomTranslation(0.05, 0.05, fill_mode="constant", seed=2),
    Conv2D(32, 3, padding="same", activation="relu"),   # 28x28x32
    MaxPooling2D(2),                                     # 14x14x32
    Conv2D(32, 3, padding="same", activation="relu"),   # 14x14x32
    MaxPooling2D(2),                                     # 7x7x32
    Conv2D(64, 3, use_bias=False),                       # 5x5x64
    BatchNormalization(),
    Activation("relu"),
    Flatten(),
    Dropout(0.3),
    Dense(128, activation="relu"),
    Dropout(0.3),
    Dense(10, activation="softmax"),
], name="apparel_cnn")
model.summary()

# %% [markdown]
# ## Training
#
# Adam with batches of 128; 10% of the training images are the validation set. Early
# stopping watches the validation loss: after 3 epochs without improvement it stops and
# restores the weights of the best epoch.

# %%
epochs = args.epochs or (2 if args.quick else 15)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
early_stopping = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
start = time.perf_counter()
history = model.fit(x_train, y_train, batch_size=128, epochs=epochs, validation_split=0.1,
                    callbacks=[early_stopping], verbose=0 if args.quick else 2)
seconds = time.perf_counter() - start
trained = len(history.history["loss"])
print(f"trained {trained} epochs in {seconds:.1f} s ({seconds / trained:.1f} s per epoch)")
plot.plot_history(history, title="apparel classifier: training history", save_path=output / "history.png")

# %% [markdown]
# ## Evaluation on the test images
#
# The confusion matrix shows which types are taken for which: rows are the true types,
# columns the predicted ones. Shirts, T-shirts, pullovers and coats look alike at 28x28
# and account for most of the errors.

# %%
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test loss {float(test_loss):.4f}, test accuracy {float(test_accuracy):.4f}")
predicted = model.predict(x_test, verbose=0).argmax(axis=1)
plot.plot_confusion_matrix(y_test, predicted, labels=class_names, save_path=output / "confusion_matrix.png")
per_class = plot.confusion_matrix(y_test, predicted, num_classes=10)
recall = np.diag(per_class) / np.maximum(per_class.sum(axis=1), 1)
print("recall per type:", ", ".join(f"{name} {r:.2f}" for name, r in zip(class_names, recall)))

# %% [markdown]
# ## What it gets wrong
#
# A grid of misclassified test images, each titled "true type -> predicted type".

# %%
plot.plot_misclassified(x_test, y_test, predicted, labels=class_names, max_images=25,
                        save_path=output / "misclassified.png")
print("figures saved:", ", ".join(sorted(p.name for p in output.glob("*.png"))))
