"""The registries of models and optimizers (light: nothing here imports torch).

A model target is `build(input_shape, n_classes, weights) -> FeatureModel` (core.models.nets;
`weights`: a pretrained backbone state dict or None; for `inputs="tokens"` models, which read token
ids instead of a text dataset's embeddings, the encoder and adapter settings, core.models.training.
starting_weights); meta `kinds` lists the dataset kinds it
accepts, `solver="lbfgs"` marks a convex model trained to its optimum instead of by epochs
(core.models.training) and `solver="lbfgs_val"` one whose L2 strength is chosen on the validation split
first, `backbone` the architecture whose pretrained weights it can start from. An optimizer
target is `make(parameters, cfg: TrainConfig) -> torch.optim.Optimizer`
(core.models.training). Adding either is one function and one line here.
"""

from core.registry import Registry

MODELS = Registry("model")
MODELS.add("cnn", "small CNN: two conv blocks + 64-unit layer (default for small images)",
                "core.models.nets:build_cnn", kinds=("image",))
MODELS.add("cnn_pool", "small CNN: four conv blocks, a global max pool over positions + 64-unit layer (default "
           "for small or grayscale multi-label images: a tag is shown anywhere)", "core.models.nets:build_cnn_pool",
           kinds=("image",))
MODELS.add("given", "the model whose outputs were handed in (an outputs .npz or parquet): nothing is trained",
           None, kinds=("outputs",), solver="given")
MODELS.add("logreg", "multinomial logistic regression on the standardized input (convex: solved exactly by L-BFGS)",
           "core.models.nets:build_logreg", kinds=("image", "tabular", "text"), solver="lbfgs")
MODELS.add("mlp", "two hidden ReLU layers of 64 units (the paper's moons model)",
                "core.models.nets:build_mlp", kinds=("image", "tabular", "text"))
MODELS.add("probe_resnet18", "linear probe: frozen pretrained ResNet-18 features (ImageNet stem) + a trained "
           "linear head", "core.models.nets:build_probe_resnet18", kinds=("image",), backbone="resnet18")
MODELS.add("resnet18", "torchvision ResNet-18 (CIFAR stem below 64 px)", "core.models.nets:build_resnet18",
           kinds=("image",), backbone="resnet18")
MODELS.add("resnet34", "torchvision ResNet-34 (the paper's CIFAR-N model)", "core.models.nets:build_resnet34",
           kinds=("image",), backbone="resnet34")

MODELS.add("text_probe", "linear probe on frozen text-encoder embeddings: a softmax head solved by L-BFGS, its L2 "
           "strength chosen on the validation split (default for text)", "core.models.nets:build_logreg",
           kinds=("text",), solver="lbfgs_val")
MODELS.add("text_lora", "the text encoder fine-tuned with LoRA adapters (train.lora_rank) under a softmax head; "
           "token inputs (a GPU job at scale)", "core.models.text_lora:build_text_lora", kinds=("text",),
           inputs="tokens")

OPTIMIZERS = Registry("optimizer")
OPTIMIZERS.add("adam", "Adam with L2 weight decay", "core.models.training:make_adam")
OPTIMIZERS.add("sgd", "SGD with momentum (train.momentum) and weight decay", "core.models.training:make_sgd")
