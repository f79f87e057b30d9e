"""The notebook suite: profiles, planning and executing the notebooks with papermill
(locally or on a Dask cluster), the report, and checks that two runs agree."""
