"""The Demo County: a deterministic, fictional county calibrated on public figures about Yuyao.

Owns generating its townships (with GeoJSON boundaries), departments and datasets at a scale
factor F (F = 1 is about 1,000,000 residents), vectorised with numpy and pyarrow.
"""
