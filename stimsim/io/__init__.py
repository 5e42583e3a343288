"""Files in and out: response tables, the resolved study, all-or-nothing output folders, mesh export, map
images (Gwyddion, NSID HDF5), plots, and measured data in the formats AFM users keep."""

from stimsim.io.files import (
    check_output_dir,
    staged_output,
    write_rows,
    read_rows,
    write_study,
    write_table_csv,
    write_netcdf,
)
from stimsim.io.maps import MapChannel, MapImages, write_gwy, write_nsid
from stimsim.io.plots import plot_response, plot_table, plot_fit, plot_scan
from stimsim.io.measured import ChannelSpec, Reading, read_channels

__all__ = [
    "check_output_dir",
    "staged_output",
    "write_rows",
    "read_rows",
    "write_study",
    "write_table_csv",
    "write_netcdf",
    "MapChannel",
    "MapImages",
    "write_gwy",
    "write_nsid",
    "plot_response",
    "plot_table",
    "plot_fit",
    "plot_scan",
    "ChannelSpec",
    "Reading",
    "read_channels",
]
