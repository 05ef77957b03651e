#!/bin/sh
# NOT flanneld. A stand-in that the overlay Molecule scenario serves over HTTP to test the flannel role's install
# from a URL: the download, the checksum check, the installed file and the unit that runs it. No flanneld binary
# can be had on the test machine; this file proves nothing about flanneld itself and refuses to run.
echo "flanneld-standin: a test file of containerhost.platform's overlay scenario, not flanneld" >&2
exit 1
