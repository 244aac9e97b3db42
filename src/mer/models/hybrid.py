"""The hybrid: the flow CNN averaged, as probabilities, with experts that see other evidence:
by default an OFF-ApexNet, or the Optuna-tuned AU-region SVM (the default before 2026-12-02).

The CNN reads the whole flow/strain sequence at low resolution; the SVM reads region-level
motion statistics at full resolution (the lower lid for AU7, the nose for AU9, the upper lip
for AU10); the OFF-ApexNet reads the onset->apex flow alone with another architecture. The
hybrid's class probabilities are the mean of the CNN's softmax and each expert's (the SVM's
calibrated) probabilities; its prediction is their argmax. No weight is fitted, so there is
nothing to tune on, or leak from, any subject.

``train.hybrid.experts`` (default [off-apexnet]; [svm] before 2026-12-02, when the default
CNN became one pretrained net: "The defaults" below) names what the CNN is averaged with: the
SVM and/or reference nets (mer.models.references; each trained as ``train.references`` says,
with a seed of its own, so it is another draw than the reference learner's). A reference
expert was
measured on the embedded MEGC-style flow images (benchmarks/bench_compare.py's flow-images
set) from saved out-of-fold probabilities: all 74 LOSO folds (443 clips), seeds 0, 1 and 2,
one CNN per fit ("3 CNNs": the three seeds' single CNNs averaged, one such ensemble, so its
spread is only the other experts'), pooled UF1 / UAR, mean +- sd over the seeds:

| experts averaged                       | UF1            | UAR            |
| -------------------------------------- | -------------- | -------------- |
| off-apexnet alone (the best reference) | 0.923 +- 0.005 | 0.923 +- 0.004 |
| 1 CNN alone / SVM alone                | 0.915 +- 0.002 / 0.906 +- 0.000 | 0.920 / 0.907 |
| 1 CNN, SVM (the default then, one CNN) | 0.916 +- 0.002 | 0.918 +- 0.002 |
| 1 CNN, off-apexnet                     | 0.923 +- 0.003 | 0.924 +- 0.004 |
| 1 CNN, off-apexnet, SVM                | 0.925 +- 0.001 | 0.924 +- 0.001 |
| 1 CNN, off-apexnet, ststnet, SVM       | 0.923 +- 0.002 | 0.923 +- 0.003 |
| 3 CNNs alone                           | 0.923          | 0.926          |
| 3 CNNs, SVM                            | 0.920 +- 0.003 | 0.920 +- 0.002 |
| 3 CNNs, off-apexnet                    | 0.929 +- 0.002 | 0.928 +- 0.002 |
| 3 CNNs, off-apexnet, SVM               | 0.925 +- 0.001 | 0.924 +- 0.001 |

Only "3 CNNs, off-apexnet" leads OFF-ApexNet alone by a little more than its seed spread (0.006 over
0.005 UF1), from one CNN ensemble and the reference learner's own nets: too thin to change the
default before `bench_compare` confirms it on three seeds. Each reference expert adds its fit to
every fold (OFF-ApexNet: about 2.5 s a fold at CASME II's size on one core, bench_train), so the
default stayed the SVM alone; on these flow images the SVM lowers the CNNs' mean rather than raising
it. The option is there to measure a reference expert on other data (``python -m
benchmarks.bench_compare --hybrid-experts ...``).

On the default embedded frames set (246 clips, 26 LOSO folds, casme2-5) the same screening,
from the out-of-fold probabilities of one `bench_compare` run per seed (seeds 0, 1, 2; the
3-CNN default; each reference expert is the reference learner's own net), pooled UF1 / UAR:

| experts averaged                          | UF1            | UAR            |
| ----------------------------------------- | -------------- | -------------- |
| sssnet alone (the best reference)         | 0.726 +- 0.014 | 0.771 +- 0.012 |
| CNN, SVM (the default hybrid then)        | 0.702 +- 0.019 | 0.782 +- 0.018 |
| CNN, sssnet                               | 0.726 +- 0.014 | 0.780 +- 0.011 |
| CNN, SVM, off-apexnet, sssnet             | 0.724 +- 0.009 | 0.786 +- 0.008 |
| CNN, SVM, ststnet, off-apexnet, sssnet    | 0.735 +- 0.013 | 0.794 +- 0.009 |

Averaging every net leads SSSNet on UAR by about twice the spread but on UF1 by less than
one spread (0.009), for all three reference fits in every fold: not the clear lead that would
make it the default. Weighting each class's averaged probability by the training subjects'
class frequency to a power a (a prior correction; the losses are class-balanced) trades UAR
for UF1 in every model alike: at a = 0.5 the hybrid 0.733 / 0.762, SSSNet 0.745 / 0.767; so
it moves the operating point, not the ranking, and is not kept.

With the CNNs pretrained (``train.cnn.pretrain.clips: 510``, mer.models.pretrain; the default 3
CNNs, the same three seeds and the same saved SVM and reference probabilities), pooled UF1 /
UAR:

| experts averaged                          | UF1            | UAR            |
| ----------------------------------------- | -------------- | -------------- |
| pretrained CNN alone                      | 0.756 +- 0.006 | 0.798 +- 0.006 |
| pretrained CNN, SVM (the hybrid then)     | 0.731 +- 0.004 | 0.794 +- 0.004 |
| pretrained CNN, off-apexnet               | 0.752 +- 0.006 | 0.804 +- 0.004 |
| pretrained CNN, sssnet                    | 0.752 +- 0.011 | 0.800 +- 0.009 |
| pretrained CNN, SVM, the three references | 0.751 +- 0.010 | 0.806 +- 0.006 |

No expert raises the pretrained CNN's UF1, and none raises its UAR by more than 0.01: on this
set the pretrained CNN is the strongest model by itself, and averaging it with a weaker expert
only dilutes it. Weighting the average does not change that (two thirds CNN, one third SVM:
0.749 +- 0.007 / 0.807 +- 0.006, a weight found afterwards on these seeds, so an upper bound).

The pretrained CNN with OFF-ApexNet as its expert (``train.hybrid.experts: [off-apexnet]``) is
the one combination that led the best reference on both embedded sets in this screening, so it
was checked on fresh seeds, 3 and 4, with nothing changed (pooled UF1 / UAR, mean +- sd):

| set                           | model                        | UF1            | UAR            |
| ----------------------------- | ---------------------------- | -------------- | -------------- |
| frames, seeds 0-2             | sssnet (best reference)      | 0.726 +- 0.014 | 0.771 +- 0.012 |
|                               | pretrained CNN, off-apexnet  | 0.752 +- 0.006 | 0.804 +- 0.004 |
|                               | pretrained CNN alone         | 0.756 +- 0.006 | 0.798 +- 0.006 |
| frames, seeds 3-4             | sssnet (best reference)      | 0.735 +- 0.007 | 0.781 +- 0.003 |
|                               | pretrained CNN, off-apexnet  | 0.759 +- 0.005 | 0.810 +- 0.001 |
|                               | pretrained CNN alone         | 0.770 +- 0.012 | 0.814 +- 0.003 |
| subtle flow images, seeds 0-2 | off-apexnet (best reference) | 0.779 +- 0.012 | 0.785 +- 0.014 |
|                               | pretrained CNN, off-apexnet  | 0.828 +- 0.006 | 0.832 +- 0.007 |
|                               | pretrained CNN alone         | 0.821 +- 0.005 | 0.830 +- 0.007 |
| subtle flow images, seeds 3-4 | off-apexnet (best reference) | 0.772 +- 0.001 | 0.784 +- 0.001 |
|                               | pretrained CNN, off-apexnet  | 0.825 +- 0.002 | 0.833 +- 0.004 |
|                               | pretrained CNN alone         | 0.820 +- 0.001 | 0.830 +- 0.002 |

It leads the best reference in every seed on both sets: on frames by 0.024-0.026 UF1 and
0.029-0.033 UAR (about two of the reference's spreads), on the subtle flow images (the proxy of
the real composite, benchmarks/bench_compare.py) by about 0.05 on both; there its SAMM UF1 is
0.816 against OFF-ApexNet's 0.780 (seeds 0-2). The frames rows of seeds 3-4 are the hybrid
learner itself, beside the references in one run (``python -m benchmarks.bench_compare
--dataset frames --seeds 3 4 --models sssnet off-apexnet ststnet cnn hybrid --hybrid-experts
off-apexnet --set train.cnn.pretrain.clips=510``, 16 min); the others average the pretrained
CNN's saved out-of-fold probabilities with the reference learner's own OFF-ApexNet. On frames
the pretrained CNN alone is level with it (UF1 0.004-0.011 higher, UAR 0.004-0.006 lower); on
the subtle flow images the expert adds 0.005-0.007 UF1, about one spread, and little UAR. It
costs one OFF-ApexNet fit in every fold (about 7 s on one core at the real composite's size),
and with three CNNs per fit a LOSO run on the 443 subtle flow images took 1072 s, past the
15 min target.

The defaults (since 2026-12-02): one pretrained CNN per fit (``train.cnn.ensemble: 1``,
``train.cnn.pretrain.clips: 510``) averaged with an OFF-ApexNet (``train.hybrid.experts:
[off-apexnet]``). Pretrained, one CNN scores as three (frames, seeds 0-2: 0.751 +- 0.001 / 0.800 +-
0.001 against 0.756 +- 0.006 / 0.798 +- 0.006; subtle flow images: 0.814 +- 0.003 / 0.822 +- 0.001
against 0.821 +- 0.005 / 0.830 +- 0.007) in a third of the CNN time, which pays for the pretraining
and the OFF-ApexNet fit: the default ``dvc repro`` from nothing took 432 s (target 600) and a `mer
train` on the 443 subtle flow images 682 s (target 900; measured with the SVM as a second expert,
one more SVM fit per fold, so the default takes at most that). The hybrid learner itself beside the
best reference of the same run, seeds 0-2, is in BENCHMARKS.md (``bench_compare``; ``python -m
benchmarks.bench_compare --dataset frames flow-images-subtle --models cnn hybrid`` reruns its rows)
and in the README's "The defaults": it leads the best reference on both sets by more than that
reference's seed spread. Three CNNs with the same expert (STRONGEST in benchmarks/bench_compare.py)
score 0.006-0.009 UF1 higher, inside about one spread, for about 1.6 times the LOSO time. With the
SVM kept as a second expert (``[svm, off-apexnet]``, screened from the same out-of-fold
probabilities) the hybrid scored 0.742 +- 0.007 / 0.800 +- 0.006 on frames and 0.811 +- 0.007 /
0.817 +- 0.009 on the subtle flow images: level on frames, 0.011 UF1 lower on the proxy, so the SVM
left the default hybrid; it is still trained and reported as ``svm``, and ``[svm, off-apexnet]`` is
one param away. On frames the pretrained CNN alone scores a little above the hybrid (0.751 / 0.800);
on the subtle proxy the expert adds 0.008 UF1.

The product rule (the argmax of the experts' summed log-probabilities, a geometric mean, in
place of the arithmetic mean; Kittler et al., "On combining classifiers", IEEE TPAMI 20(3),
1998), from the same saved probabilities, CNN with SVM, pooled UF1 / UAR over seeds 0-2:
frames 0.712 +- 0.013 / 0.786 +- 0.014 (mean: 0.702 / 0.782), with the pretrained CNN 0.743
+- 0.005 / 0.803 +- 0.004 (mean: 0.731 / 0.794); on the flow images (seed 0, the 3-CNN default
from one `mer train`) 0.917 / 0.920, equal to the mean's. About 0.01 UF1 on frames, inside the
seed spread, nothing on flow images: the mean stays, since it is also the rule in which one
overconfident expert cannot veto a class.

"The CNN" is ``train.cnn.ensemble`` CNNs that differ only in their seed, softmaxes averaged.
On the default synthetic set one CNN's pooled UAR ranged 0.753-0.770 over three seeds (hybrid
0.780-0.795); two 3-CNN ensembles scored 0.778 and 0.758 (hybrid 0.807 and 0.792). So the
ensemble does not measurably raise the expected score; it makes a reported number owe less to
one seed, for three times the CNN training time.

Why not an SVM over [CNN embedding ++ AU-region features] (the seed's design, which this
replaced)? Its SVM must learn from the CNN's embeddings of the CNN's own training subjects,
which are overfit (nearly separable), and then read an unseen subject's embedding, which is not.
Measured once on the default synthetic set (LOSO, pooled UAR, the same single 30-epoch CNN in
every fold; a one-off comparison, not part of `make bench`):

| head                                                               | UAR   |
| ------------------------------------------------------------------ | ----- |
| CNN alone / SVM alone                                              | 0.770 / 0.750 |
| SVM on [embedding ++ AU features], tuned by inner-CNN replay       | 0.740 |
| SVM on [out-of-fold CNN class scores ++ AU features]               | 0.751 |
| stacking on out-of-fold CNN and SVM scores (logistic / RBF SVM)    | 0.761 / 0.763 |
| geometric mean of the probabilities (weight tuned / equal)         | 0.780 / 0.787 |
| arithmetic mean of the probabilities (this)                        | 0.795 |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mer.config import CNN, HYBRID, SVM, TrainParams
from mer.core.clipset import ClipSet
from mer.models.flownet import TrainedCnn
from mer.models.references import TrainedReference, fit_reference
from mer.models.seeds import derive_seed
from mer.models.svm import TunedSvm, fit_tuned_svm

# derive_seed keys of the CNNs' and the reference experts' seeds (the SVM's are in
# mer.models.svm): a reference expert never shares its seed with the reference learner
CNN_STREAM, REFERENCE_STREAM = 1, 2


@dataclass(frozen=True, eq=False)
class HybridModel:
    """Fitted CNNs (an ensemble of seeds) and, unless CNN-only, the experts of
    train.hybrid.experts: the tuned AU-region SVM and reference nets."""

    classes: tuple[str, ...]
    au_feature_names: tuple[str, ...]
    cnns: tuple[TrainedCnn, ...]
    svm: TunedSvm | None
    references: tuple[TrainedReference, ...] = ()  # a bundle saved before they existed: none

    @property
    def cnn_only(self) -> bool:
        return self.svm is None and not self.references

    def predict_proba(self, flow: np.ndarray, apex: np.ndarray, au: np.ndarray) -> np.ndarray:
        """Hybrid class probabilities (N, K) from features.npz-style arrays.

        flow (N, T, 3, I, I), apex (N, 1, I, I), au (N, F); columns follow ``classes``.
        """
        if self.cnn_only:
            raise ValueError("this model was fitted CNN-only; use cnn_proba")
        return self._hybrid(self.cnn_proba(flow, apex), flow, au)

    def _hybrid(self, cnn: np.ndarray, flow: np.ndarray, au: np.ndarray) -> np.ndarray:
        experts = [cnn]
        if self.svm is not None:
            experts.append(self.svm_proba(au))
        experts += [reference.proba(flow) for reference in self.references]
        return average_experts(*experts)

    def cnn_proba(self, flow: np.ndarray, apex: np.ndarray) -> np.ndarray:
        """The CNNs' softmax (N, K), averaged over the ensemble."""
        return average_experts(*(cnn.predict(flow, apex)[0] for cnn in self.cnns))

    def svm_proba(self, au: np.ndarray) -> np.ndarray:
        """The AU-region SVM's calibrated probabilities (N, K)."""
        if self.svm is None:
            raise ValueError("this model has no SVM (CNN-only, or svm not in "
                             "train.hybrid.experts)")
        return self.svm.predict_proba(au.astype(np.float64))

    # The LOSO loop's interface (mer.evaluation.loso.Fitted):
    def predict(self, clips: ClipSet) -> dict[str, np.ndarray]:
        cnn = self.cnn_proba(clips.flow, clips.apex_image)
        if self.cnn_only:
            return {CNN: cnn}
        return {CNN: cnn, HYBRID: self._hybrid(cnn, clips.flow, clips.au_features)}

    def report(self) -> dict[str, dict[str, Any]]:
        losses = np.array([cnn.train_loss for cnn in self.cnns])  # (members, epochs)
        cnn = {"train_loss": losses.mean(axis=0).tolist(),  # the ensemble's mean curve
               "member_train_loss": losses.tolist(),
               "class_weights": list(self.cnns[0].class_weights)}  # the same for every member
        if self.cnn_only:
            return {CNN: cnn}
        hybrid: dict[str, Any] = {**cnn, **(self.svm.report() if self.svm is not None else {})}
        for reference in self.references:
            hybrid[f"{reference.name}_train_loss"] = list(reference.train_loss)
        return {CNN: cnn, HYBRID: hybrid}


def average_experts(*probabilities: np.ndarray) -> np.ndarray:
    """The equal-weight mean of (N, K) class probabilities: still rows summing to 1."""
    return np.mean(np.stack(probabilities), axis=0)


def fit_hybrid(train: ClipSet, params: TrainParams, seed: int, with_experts: bool = True,
               pretrained: bytes | None = None) -> HybridModel:
    """Fit the CNNs and (``with_experts``) train.hybrid.experts on every clip of ``train``
    (labels required).

    Used per LOSO fold (train = the training subjects) and, by ``mer register``, on all
    subjects for the final model. The SVM is the 'svm' learner's, with the same seed; each
    reference expert is the reference learner's net with a seed of its own. ``pretrained``:
    the CNNs' starting weights when train.cnn.pretrain.clips > 0 (mer.models.pretrain).
    """
    from mer.models.cnn import fit_cnn  # the training stack: a loaded model needs none of it

    cnns = tuple(fit_cnn(train, params.cnn, derive_seed(seed, CNN_STREAM, member),
                         pretrained)
                 for member in range(params.cnn.ensemble))
    experts = params.hybrid.experts if with_experts else ()
    svm = None
    if SVM in experts:
        svm = fit_tuned_svm(train.au_features.astype(np.float64), train.y, train.subject,
                            train.n_classes, params.svm, seed)
    # In name order, each with the seed of its place there: the experts' order in params is
    # not a setting (the mean has equal weights), so it changes no seed and no sum.
    references = tuple(
        fit_reference(name, train, params.references, derive_seed(seed, REFERENCE_STREAM, i))
        for i, name in enumerate(sorted(n for n in experts if n != SVM)))
    return HybridModel(train.classes, train.au_feature_names, cnns, svm, references)
