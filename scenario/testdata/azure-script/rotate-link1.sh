#!/bin/sh
# An engineer's own rotation script for link1, run by the scenario beside it
# (exec: {host: true}) against the lab's Azure emulator: azure-cli, aimed at
# the lab by the environment secylab sets (secylab azure env), updates link1's
# macSecConfig to the current versions of the CKN and CAK secrets.
set -eu
az cloud register -n "$SECYLAB_AZURE_CLOUD" --endpoint-resource-manager "$SECYLAB_AZURE_ARM" \
  --suffix-keyvault-dns "$SECYLAB_AZURE_KV_SUFFIX" -o none
az cloud set -n "$SECYLAB_AZURE_CLOUD"
az login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID" -o none
# The current version's identifier ($secret.Id): az rest, because Debian's
# az 2.45 cannot run 'az keyvault secret show' (it lacks the legacy SDK).
secret_id() {
  az rest --method get --url "https://$SECYLAB_AZURE_VAULT$SECYLAB_AZURE_KV_SUFFIX/secrets/$1?api-version=7.4" \
    --resource "$SECYLAB_AZURE_KV_RESOURCE" --query id -o tsv
}
az network express-route port link update -g "$SECYLAB_AZURE_RESOURCE_GROUP" --port-name "$SECYLAB_AZURE_PORT" -n link1 \
  --macsec-ckn-secret-identifier "$(secret_id link1-ckn)" --macsec-cak-secret-identifier "$(secret_id link1-cak)" \
  --macsec-cipher GcmAesXpn256 --macsec-sci-state Disabled -o none
