"""NMFD that starts from a network's stems and adapts to the recording: the hybrid's refinement of the
network's masks, in numpy (no torch).

Per block of STFT frames (the network's blocks):
1. the network's estimate of each stem (the square root of its mask times the mixture magnitude, pooled into
   log bands) is factorised on its own by that stem's components, templates starting from the drum priors:
   templates that sound like this recording's pieces, activations where the network hears them;
2. all those components together then factorise the mixture's magnitude (templates, activations and
   stereo gains adapt jointly), so what the network put in the wrong stem goes to the component that
   explains it;
3. the cymbal components are shared between cymbals and hi-hat by how fast their adapted templates decay
   (`hihat_shares`): on kits it has not heard, the network hears most acoustic hi-hats (open, pedal, closed
   ones that ring) as cymbals, so its cymbals estimate holds this recording's hi-hat too, and the components
   started from it learn them; what it calls hi-hat is one (on the tuning kits 0.1% of the cymbals' energy
   reaches its hi-hat mask), so the hi-hat components stay hi-hat; and the split moves at most what the network
   gave the cymbals (on kits without cymbals the cymbal components hold only what the joint fit left over);
4. each stem's share of the joint model is its mask, spread from bands to bins; the masks partition unity.

Measured against the network alone and against NMFD from the priors (`benchmarks/bench_open_weights.py
--sections quality`) and tuned on kits that are not held out (`AdaptationSettings`).

Blocks are factorised independently, so memory is one block's whatever the input's length. Carrying state from
block to block gained nothing measurable (mean SDR on 8 held-out clips of 30 s, three blocks each: 5.24 dB
independent, 5.24 with the previous block's last template_frames - 1 frames as context, 5.22 with the templates
warm-started from the previous block).
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lars_service.larsnet import STEMS
from lars_service.runtime.blas import single_threaded_blas

from .nmf_numpy import (
    DRUM_PRIORS, TINY, ComponentPrior, band_edges_hz, band_of_bin, class_models, factorise, pool_bands,
    prior_templates, ratio_masks,
)


@dataclass(frozen=True)
class AdaptationSettings:
    """Parameters of `InformedNmfd`, chosen on synthetic clips of kits that are not held out (BJA_Pacific,
    ForzeeStereo, eXaDrums Default: three clips of 10 s each; the model card of `lars-open` tells the search).

    Attributes:
        bands_per_octave: resolution of the log-frequency pooling (`nmf_numpy.band_of_bin`).
        band_weight_exponent: a band's magnitude is its bins' sum times bins^exponent (`nmf_numpy.pool_bands`).
        template_seconds: length of each spectro-temporal template.
        stem_target_exponent: step 1 factorises mask^exponent x the mixture magnitude for each stem: below 1,
            the bins the network shares between stems count more, so a stem's templates also learn what the
            network was unsure of and the joint fit (step 2) decides it.
        stem_iterations: update rounds of each stem's own factorisation (step 1): fewer rounds keep each stem's
            components nearer what the network heard, too few leave them at the priors.
        stem_template_update_start: round of step 1 from which templates adapt.
        joint_iterations: update rounds of the joint factorisation of the mixture (step 2).
        joint_template_update_start: round of step 2 from which templates adapt.
        mask_power: exponent of each stem's model in its mask.
        components_per_stem: how many of each stem's priors (`nmf_numpy.DRUM_PRIORS`, in their order) the
            factorisation uses, in STEMS order. One kick component, the 55 Hz one: with the second, at 90 Hz, the
            joint fit gave the kick part of the floor tom and of the snare's body (tuning kits 7.48 -> 7.78 dB,
            kick 10.13 -> 11.03, toms 10.91 -> 11.37, with release 1.2).
        hihat_decay_ratios: (all hi-hat, all cymbals): a cymbal component whose template's late half holds at most
            the first ratio of its early half's energy is all hi-hat, at least the second all cymbals, linearly
            between (`hihat_shares`). On the tuning kits (with one kick component; 7.78 dB by the labels the
            components started with, hi-hat 2.26, cymbals 5.24), sharing every metal component (hi-hat ones
            too) by ramps 0.2-0.6 / 0.25-0.55 / 0.3-0.5 / 0.1-0.7 / 0-0.8: 8.16 / 8.16 / 8.13 / 8.12 / 8.08 dB; a
            hard threshold instead, 0.3 / 0.35 / 0.4 / 0.5 / 0.6: 7.78 / 8.13 / 8.11 / 8.10 / 7.60. Sharing only
            the cymbal components (0.2-0.6): 8.15 (hi-hat 3.29, cymbals 6.25); on held-out clips where one of the
            two is quiet, sharing the hi-hat components too sent part of a loud hi-hat into quiet cymbals (the
            model card has the clips).

    With the multichannel Wiener filter after the masks (`processors/hybrid.py`), mean SDR on those clips:
    stem rounds 20 / 12 / 10 / 8 / 7 / 6 / 5 (0.5 s templates, 24 bands per octave): 6.23 / 6.34 / 6.41 / 6.50 /
    6.51 / 6.33 / 6.22 dB; then with 8: templates of 0.3 / 0.35 / 0.4 / 0.5 s 6.34 / 6.52 / 6.55 / 6.50; 0.4 s
    with 24 / 16 / 12 bands per octave 6.55 / 6.53 / 6.52 (12 is shipped: the products' cost falls with the
    band count, 177 bands to 101); around the shipped form, 6 or 10 stem rounds 6.45 / 6.42, 12 joint rounds
    6.45 (15 shipped). Before the filter: 0.5 s templates beat 0.35 s by 0.25 dB; 15 joint rounds did as well as
    25 or 40, 80 worse. Then, with release 1.2 (tuning clips: 9 of 10 s, 3 a kit; 7.10 dB as above): step 1 on
    mask^exponent x magnitude, exponent 1 / 0.75 / 0.5 / 0.35 / 0.25 / 0.1: 7.10 / 7.23 / 7.34 / 7.08 / 6.85 /
    5.28 dB; with 0.5, mask power 1 / 1.25 / 1.5 / 2 / 2.5: 7.34 / 7.46 / 7.48 / 7.42 / 7.33 (exponent 0.4 or
    0.6 with power 2: 7.33; power 1.5 with exponent 1: 7.12); around exponent 0.5 (with power 1 or 1.5), stem
    rounds 6 / 10 / 12, joint rounds 10 / 20 / 25, templates 0.3 / 0.35 / 0.45 / 0.5 s, 16 bands per octave,
    templates adapting from other rounds: 6.96-7.52, none clearly better (the model card has each); a band weight
    exponent of 0.25: 7.00.
    """

    bands_per_octave: int = 12
    band_weight_exponent: float = 0.0
    template_seconds: float = 0.4
    stem_target_exponent: float = 0.5
    stem_iterations: int = 8
    stem_template_update_start: int = 5
    joint_iterations: int = 15
    joint_template_update_start: int = 0
    mask_power: float = 1.5
    components_per_stem: tuple[int, ...] = (1, 2, 3, 2, 2)
    hihat_decay_ratios: tuple[float, float] = (0.2, 0.6)

    def priors(self) -> tuple[ComponentPrior, ...]:
        """The priors the factorisation starts from: the first `components_per_stem` of each stem's."""
        return tuple(prior for stem, count in zip(STEMS, self.components_per_stem)
                     for prior in [prior for prior in DRUM_PRIORS if prior.stem == stem][:count])

    def record(self) -> dict[str, Any]:
        """The settings for a result document, with the method and the priors named."""
        return {"method": "NMFD initialised from the network's stems, then fitted to the mixture; the cymbal "
                          "components shared between cymbals and hi-hat by how fast their templates decay",
                "priors": f"textbook drum priors ({len(self.priors())} of nmf_numpy.DRUM_PRIORS' {len(DRUM_PRIORS)} "
                          "components)",
                **asdict(self), "components_per_stem": dict(zip(STEMS, self.components_per_stem)),
                "hihat_decay_ratios": list(self.hihat_decay_ratios)}


class InformedNmfd:
    """Refines a network's five masks, block by block.

    Args:
        sample_rate: of the audio, Hz.
        n_fft: the STFT's frame length (its bins: n_fft // 2 + 1).
        hop: the STFT's hop.
        settings: the adaptation's parameters.
        fitted: called after each factorisation (`FITS_PER_BLOCK` per block), in the calling thread, e.g. for
            progress.
        pool: runs the stems' own factorisations (step 1, independent of each other) at once, each on one
            BLAS thread; None runs them one after another.
    """

    #: factorisations per block: one per stem, then the joint one
    FITS_PER_BLOCK = len(STEMS) + 1

    def __init__(self, sample_rate: int, n_fft: int, hop: int, settings: AdaptationSettings = AdaptationSettings(),
                 fitted: Callable[[], None] | None = None, pool: Executor | None = None) -> None:
        self.settings = settings
        self.fitted = fitted
        self.pool = pool
        self.bands = band_of_bin(n_fft, sample_rate, settings.bands_per_octave)  # (bins,)
        self.template_frames = max(1, round(settings.template_seconds * sample_rate / hop))
        priors = settings.priors()
        templates = prior_templates(priors, band_edges_hz(self.bands, n_fft, sample_rate), hop / sample_rate,
                                    self.template_frames, settings.band_weight_exponent)  # (bands, components, frames)
        self.members = [[index for index, prior in enumerate(priors) if prior.stem == stem] for stem in STEMS]
        self.stem_templates = [templates[:, members] for members in self.members]
        self.component_stems = [stem for stem, members in zip(STEMS, self.members) for _ in members]

    def __call__(self, masks: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
        """The refined masks of the next block.

        Args:
            masks: (5, channels, bins, frames) the network's masks in STEMS order, summing to 1 over stems.
            magnitude: (channels, bins, frames) the mixture's STFT magnitude.

        Returns:
            float32 (5, channels, bins, frames) masks in STEMS order that sum to 1 over stems.
        """
        exponent = self.settings.band_weight_exponent
        mixture = pool_bands(magnitude, self.bands, exponent)  # (channels, bands, frames)
        magnitude = np.ascontiguousarray(magnitude)  # the stems' products and pooling below take half the time on it
        # a Python float exponent: mask ** 0.5 then takes numpy's square-root path (2 ms a block's stem, where a
        # float32 scalar exponent takes the general power, 19 ms)
        target_exponent = float(self.settings.stem_target_exponent)
        stems = np.stack([pool_bands(mask ** target_exponent * magnitude, self.bands, exponent) for mask in masks])
        scale = np.float32(1.0 / (float(mixture.mean()) + TINY))  # the factorisation wants the mixture at mean 1
        # what the network gave the cymbals, as a share of the mixture's magnitude
        cymbals_share = float(np.vdot(masks[STEMS.index("cymbals")], magnitude).real) / (float(magnitude.sum()) + TINY)
        with single_threaded_blas():
            band_masks = self._factorise(mixture * scale, stems * scale, cymbals_share)  # (5, channels, bands, frames)
        return band_masks[:, :, self.bands]

    def _factorise(self, mixture: np.ndarray, stems: np.ndarray, cymbals_share: float) -> np.ndarray:
        """Masks per band from pooled magnitudes normalised to the mixture's mean 1.

        Args:
            mixture: (channels, bands, frames).
            stems: (5, channels, bands, frames) the network's stems.
            cymbals_share: the share of the mixture's magnitude in the network's cymbals (mask x magnitude).

        Returns:
            float32 (5, channels, bands, frames) masks in STEMS order.
        """
        settings = self.settings

        def fit_stem(job: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            stem_templates, estimate = job
            with single_threaded_blas():
                return factorise(estimate, stem_templates, settings.stem_iterations, settings.stem_template_update_start)

        fits = []
        for fit in (self.pool.map if self.pool is not None else map)(fit_stem, zip(self.stem_templates, stems)):
            fits.append(fit)
            if self.fitted is not None:
                self.fitted()
        templates, activations, gains = factorise(
            mixture, np.concatenate([fit[0] for fit in fits], axis=1), settings.joint_iterations,
            settings.joint_template_update_start, activations=np.concatenate([fit[1] for fit in fits]),
            gains=np.concatenate([fit[2] for fit in fits]))
        if self.fitted is not None:
            self.fitted()
        models = self._stem_models(templates, activations, gains, cymbals_share * float(mixture.sum()))
        return ratio_masks(models, settings.mask_power)

    def _stem_models(self, templates: np.ndarray, activations: np.ndarray, gains: np.ndarray,
                     network_cymbals: float) -> np.ndarray:
        """Each stem's part of the joint model, the cymbal components shared with the hi-hat (step 3).

        A shared component is that component twice, its gains scaled by each share. The split moves at most what the
        network gave the cymbals: where it heard none (kits without cymbals), the cymbal components start from nothing
        and take whatever short sound the joint fit leaves them, which the hi-hat should not get (one such kit's
        hi-hat fell 8.2 -> 1.8 dB without this bound).

        Args:
            templates, activations, gains: the joint fit, (bands, components, template_frames), (components, frames),
                (components, channels).
            network_cymbals: the network's cymbals (mask x magnitude) summed, on the scale of the fitted mixture.

        Returns:
            float32 (5, channels, bands, frames) in STEMS order.
        """
        cymbals = [index for index, stem in enumerate(self.component_stems) if stem == "cymbals"]
        others = [index for index, stem in enumerate(self.component_stems) if stem != "cymbals"]
        cymbal_model = float((gains[cymbals].sum(axis=1) * templates[:, cymbals].sum(axis=(0, 2))
                              * activations[cymbals].sum(axis=1)).sum())
        movable = min(1.0, network_cymbals / max(cymbal_model, TINY))
        shares = hihat_shares(templates[:, cymbals], *self.settings.hihat_decay_ratios)  # (cymbal components,)
        hihat = movable * shares[:, None]
        order = others + cymbals + cymbals
        return class_models(
            templates[:, order], activations[order],
            np.concatenate([gains[others], gains[cymbals] * hihat, gains[cymbals] * (1 - hihat)]),
            [self.component_stems[index] for index in others] + ["hihat"] * len(cymbals) + ["cymbals"] * len(cymbals))


def hihat_shares(templates: np.ndarray, all_hihat: float, all_cymbals: float) -> np.ndarray:
    """How much of each metal component is hi-hat, from how fast its template decays.

    A template's decay is the energy of its later half of frames over its earlier half's (summed over bands): a
    closed or pedal hi-hat is gone within the template (0.4 s), an open one fades, a crash or ride rings on.

    Args:
        templates: (bands, components, template_frames) adapted templates.
        all_hihat: a decay at or below this is all hi-hat.
        all_cymbals: a decay at or above this is all cymbals; linear between.

    Returns:
        float32 (components,) in [0, 1]: the share that is hi-hat (the rest is cymbals).
    """
    envelope = templates.sum(axis=0)  # (components, template_frames)
    half = templates.shape[2] // 2
    decay = envelope[:, half:].sum(axis=1) / np.maximum(envelope[:, :half].sum(axis=1), TINY)
    return np.clip((all_cymbals - decay) / (all_cymbals - all_hihat), 0.0, 1.0).astype(np.float32)
