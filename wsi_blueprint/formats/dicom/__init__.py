"""DICOM WSI (VL Whole Slide Microscopy Image Storage): a series of instances in one folder,
read by Range like a TIFF: headers and offset tables at open, frames on demand."""
