# models-env.sh - sourced by the inference tests.  Sets MODELS (face-api's
# model/ dir), DEMO (sample1..6.jpg), FIXTURES and BUILD.  Models come from
# inference/models/fetch-models.sh (npm pack, cached under ${MW_CACHE:-.cache});
# if that script is absent, the cache is used as is.  Exit 77 (skip) only
# when the models cannot be had at all.
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MW_BUILDDIR:-$srcdir}
FIXTURES=$srcdir/tests/fixtures/faceapi
fetch=$srcdir/inference/models/fetch-models.sh
if [ -x "$fetch" ]; then
    MODELS=$("$fetch") || { echo "SKIP: fetch-models.sh failed" >&2; exit 77; }
    DEMO=$("$fetch" --demo) || { echo "SKIP: fetch-models.sh --demo failed" >&2; exit 77; }
else
    MODELS=${MW_CACHE:-$srcdir/.cache}/face-api/package/model
    DEMO=${MW_CACHE:-$srcdir/.cache}/face-api/package/demo
fi
if [ ! -f "$MODELS/tiny_face_detector_model-weights_manifest.json" ]; then
    echo "SKIP: no face-api models in $MODELS" >&2
    exit 77
fi
export MW_MODELS_DIR="$MODELS"
