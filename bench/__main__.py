"""`python -m bench`: every benchmark at its issue's size; figures saved under bench/out/."""

from bench import features, ingest, peers, train, validate

if __name__ == "__main__":
    ingest.main([])
    validate.main([])
    features.main([])
    train.main([])
    peers.main(["demo"])
