"""`python -m bench`: every benchmark at its issue's size; figures saved under bench/out/.

The accuracy benchmarks run beside the open-source peers: on the demo, on Montgomery County's
real feed when it is at hand (bench.montco.DATA), and on the low-volume, drifting agency."""

from bench import dask_fit, drift, features, ingest, peers, scale, train, validate
from bench.montco import DATA

if __name__ == "__main__":
    ingest.main([])
    validate.main([])
    features.main([])
    train.main([])
    peers.main(["demo"])
    if DATA.is_file():
        peers.main(["montco"])
    else:
        print(f"montco: no data at {DATA}: its peers benchmark is left out")
    drift.main([])
    dask_fit.main([])
    scale.main([])
