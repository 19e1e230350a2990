"""StyleGAN's published generators: the official karras2019 pickles of NVlabs/stylegan.

NVIDIA hosts them on Google Drive only (the README's "networks" folder; the ``uc?id=`` links of
``pretrained_example.py`` and ``generate_figures.py``), publishes no hash for them, and lets Drive
limit how often a file may be downloaded. So a fetch goes through Drive's large-file confirmation
page, says so when the quota is used up, checks the pickle's structure (G, D, Gs networks of the
published resolution, read without running any of its code) and records the SHA-256 of what it got.

The FIDs are the paper's (Karras et al. 2019, Tables 1 and 5, figures 10-12). Sizes are estimated
from the variables of the three float32 networks in each pickle (G, D and Gs, counted on this
port: 1024² 2 × 29.0M + 23.1M, 512² 2 × 26.9M + 23.1M, 256² 2 × 26.3M + 23.1M). The pickles are
licensed CC BY-NC 4.0 by NVIDIA: non-commercial use only, with credit (cite the paper).
"""

from __future__ import annotations

from functools import partial

from export.stylegan.weights.convert import check_official_pickle
from export.weights.presets import GOOGLE_DRIVE, Preset

ARCHITECTURE = "stylegan"
DRIVE_URL = "https://drive.google.com/uc?export=download&id={id}"
LICENCE = "CC-BY-NC-4.0"  # non-commercial use only, with credit
LICENCE_URL = "https://creativecommons.org/licenses/by-nc/4.0/"

# name, file, Google Drive id, generator resolution, estimated size, paper metric, dataset
_TABLE = (
    (
        "ffhq",
        "karras2019stylegan-ffhq-1024x1024.pkl",
        "1MEGjdvVpUsu1jB4zrXZN7Y4kBBOzizDQ",
        1024,
        "≈ 325 MB",
        "FFHQ FID 4.40",
        "Flickr-Faces-HQ faces, 1024x1024",
    ),
    (
        "celebahq",
        "karras2019stylegan-celebahq-1024x1024.pkl",
        "1MGqJl28pN4t7SAtSrPdSRJSQJqahkzUf",
        1024,
        "≈ 325 MB",
        "CelebA-HQ FID 5.06",
        "CelebA-HQ faces, 1024x1024",
    ),
    (
        "bedrooms",
        "karras2019stylegan-bedrooms-256x256.pkl",
        "1MOSKeGF0FJcivpBI7s63V9YHloUTORiF",
        256,
        "≈ 300 MB",
        "LSUN Bedroom FID 2.65",
        "LSUN bedrooms, 256x256",
    ),
    (
        "cars",
        "karras2019stylegan-cars-512x384.pkl",
        "1MJ6iCfNtMIRicihwRorsM3b7mmtmK9c3",
        512,
        "≈ 305 MB",
        "LSUN Car FID 3.27",
        "LSUN cars, 512x384 (a 512x512 generator, rows 64-447 hold the car)",
    ),
    (
        "cats",
        "karras2019stylegan-cats-256x256.pkl",
        "1MQywl0FNt6lHu8E_EUqnRbviagS7fbiJ",
        256,
        "≈ 300 MB",
        "LSUN Cat FID 8.53",
        "LSUN cats, 256x256",
    ),
)

PRESETS: tuple[Preset, ...] = tuple(
    Preset(
        architecture=ARCHITECTURE,
        name=name,
        file_name=file_name,
        url=DRIVE_URL.format(id=drive_id),
        checksum=None,
        size=size,
        licence=LICENCE,
        licence_url=LICENCE_URL,
        metric=metric,
        source="NVlabs/stylegan README, networks folder on Google Drive",
        check=partial(check_official_pickle, resolution=resolution),
        host=GOOGLE_DRIVE,
        description=dataset,
    )
    for name, file_name, drive_id, resolution, size, metric, dataset in _TABLE
)
