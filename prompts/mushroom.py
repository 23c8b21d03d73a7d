"""UCI Mushroom rows (22 categorical features) rendered as a readable English description.

Every feature appears in the text, in a fixed order, so that two rows that differ in any one feature
never render the same. A missing stalk-root is said as "unknown".
"""

from __future__ import annotations

FEATURES = (
    "cap-shape",
    "cap-surface",
    "cap-color",
    "bruises?",
    "odor",
    "gill-attachment",
    "gill-spacing",
    "gill-size",
    "gill-color",
    "stalk-shape",
    "stalk-root",
    "stalk-surface-above-ring",
    "stalk-surface-below-ring",
    "stalk-color-above-ring",
    "stalk-color-below-ring",
    "veil-type",
    "veil-color",
    "ring-number",
    "ring-type",
    "spore-print-color",
    "population",
    "habitat",
)
LABEL_FIELD = "classification"
LABELS = ("edible", "poisonous")

_SURFACE = {"grooves": "grooved"}
_SPACING = {"closed": "closely spaced", "crowded": "crowded", "distant": "distantly spaced"}
_HABITAT = {
    "grasses": "in grass",
    "leaves": "among leaves",
    "meadows": "in meadows",
    "paths": "along paths",
    "urban": "in urban areas",
    "waste": "on waste ground",
    "woods": "in woods",
}
_POPULATION = {
    "abundant": "in abundant numbers",
    "clustered": "in clusters",
    "numerous": "in large numbers",
    "scattered": "scattered",
    "several": "in small groups",
    "solitary": "alone",
}
_RING_COUNT = {"none": "no", "one": "one", "two": "two"}


def describe(row: dict) -> str:
    """'The cap is convex, smooth and brown. It bruises. It smells pungent. ...' for one mushroom row."""
    value = {feature: (row.get(feature) or "unknown") for feature in FEATURES}
    odor = "It has no smell." if value["odor"] == "none" else f"It smells {value['odor']}."
    rings = _RING_COUNT.get(value["ring-number"], value["ring-number"])
    ring_word = "ring" if rings == "one" else "rings"
    surface = _SURFACE.get(value["cap-surface"], value["cap-surface"])
    sentences = [
        f"The cap is {value['cap-shape']}, {surface} and {value['cap-color']}.",
        "It bruises." if value["bruises?"] == "yes" else "It does not bruise.",
        odor,
        f"The gills are {value['gill-attachment']}, {_SPACING.get(value['gill-spacing'], value['gill-spacing'])}, "
        f"{value['gill-size']} and {value['gill-color']}.",
        f"The stalk is {value['stalk-shape']} and its root is {value['stalk-root']}.",
        f"Above the ring the stalk is {value['stalk-surface-above-ring']} and {value['stalk-color-above-ring']}; "
        f"below the ring it is {value['stalk-surface-below-ring']} and {value['stalk-color-below-ring']}.",
        f"The veil is {value['veil-type']} and {value['veil-color']}.",
        f"It has {rings} {value['ring-type']} {ring_word}."
        if rings != "no"
        else f"It has no ring (ring type: {value['ring-type']}).",
        f"The spore print is {value['spore-print-color']}.",
        f"It grows {_POPULATION.get(value['population'], value['population'])}, "
        f"{_HABITAT.get(value['habitat'], value['habitat'])}.",
    ]
    return " ".join(sentences)
