"""Synthetic multitrack drum data: kits from licence-clean sources, grooves, rendering, augmentation.

Everything here works on numpy arrays (no torch): `dataset.SyntheticDrums` yields (mixture, stems)
examples on the fly, `dataset.load_kits` loads the named kit selections or a user's kit, and
`dataset.render_to_disk` writes examples for listening. Modules: `sources` (allowed sources, licences,
selections), `stem_map` (instrument names and GM keys to stems), `kits` and `soundfont` (loaders),
`grooves` and `midi` (hit lists), `drumset` (choosing and voicing one example's pieces), `render`
(hits to stems), `augment` (what a real recording brings).
"""
