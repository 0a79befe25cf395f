"""SaltLab: a library for seismic salt segmentation on the TGS Salt Identification data.

The Streamlit app is a thin layer over this package; everything here runs headless
(`python -m saltlab ...`) and never imports Streamlit.
"""

__version__ = "0.1.0"
