#!/usr/bin/env bash
# GPU readiness of Masklab in one table (issue 11): run from the repository root on a machine with
# one CUDA GPU. Under 8 minutes on one H200.
#
#   bash tests/gpu/check.sh            # the GPU check
#   bash tests/gpu/check.sh --cpu      # the same end to end on the CPU, tiny sizes
#
# Packages the machine's Python lacks (shapely, pycocotools) travel as wheels in .whl/ (see the
# device notes); they are installed into /tmp/site when that folder exists. Real photos for the
# preview check are read from ../shared/data, or from $MASKLAB_SHARED_DATA (e.g. a carried folder);
# without them the check uses the generated demo project. Extra arguments go to gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"
if [ -d .whl ] && compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
DATA="${MASKLAB_SHARED_DATA:-$PWD/../shared/data}"
"$PYTHON" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
exec "$PYTHON" tests/gpu/gpu_check.py --data "$DATA" "$@"
