"""Files in and out: response tables, the resolved study, all-or-nothing output folders, mesh export, plots, and
measured data in the formats AFM users keep."""

from stimsim.io.files import (
    check_output_dir,
    staged_output,
    write_rows,
    read_rows,
    write_study,
    write_table_csv,
    write_netcdf,
)
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
    "plot_response",
    "plot_table",
    "plot_fit",
    "plot_scan",
    "ChannelSpec",
    "Reading",
    "read_channels",
]
