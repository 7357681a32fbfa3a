#!/usr/bin/env bash
# System packages the pipeline and the tests need (Debian/Ubuntu):
#   tesseract-ocr + tesseract-ocr-vie  OCR with the Vietnamese model
#   poppler-utils                      pdftoppm / pdfinfo for rendering scans
#   fonts-dejavu-core                  a font with Vietnamese diacritics for the demo scans
#   fonts-liberation2                  Times/Arial-metric fonts (Vietnamese coverage) for the layout benchmark
#   ghostscript                        PDF/A output of OCRmyPDF, the OCR benchmark's baseline
#   chromium                           headless rendering of the officials' HTML report (PNG) in tests
# Installs what is missing when run as root (or with sudo); otherwise says what to install.
set -euo pipefail

need=()
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr)
{ command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx vie; } || need+=(tesseract-ocr-vie)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ -f /usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf ] || need+=(fonts-liberation2)
command -v gs >/dev/null 2>&1 || need+=(ghostscript)
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present (tesseract with vie, poppler-utils, fonts-dejavu-core, fonts-liberation2, ghostscript, chromium)"
  exit 0
fi

echo "system packages: installing ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "error: missing system packages ${need[*]}; install them with: apt-get install ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "system packages: installed ${need[*]}"
