// Looks up the Azure Monitor workspace's default DCE and DCR by resource id and builds
// the Prometheus remote-write URL the flusher posts to. A separate module because an
// `existing` resource needs its name and scope when the deployment starts: here the ids
// are parameters, in main.bicep they would be runtime outputs.
// URL shape: Learn "Send Prometheus data to Azure Monitor using remote write".
param dataCollectionEndpointResourceId string
param dataCollectionRuleResourceId string

var dceParts = split(dataCollectionEndpointResourceId, '/')
var dcrParts = split(dataCollectionRuleResourceId, '/')

resource dce 'Microsoft.Insights/dataCollectionEndpoints@2024-03-11' existing = {
  name: last(dceParts)
  scope: resourceGroup(dceParts[2], dceParts[4])
}

resource dcr 'Microsoft.Insights/dataCollectionRules@2024-03-11' existing = {
  name: last(dcrParts)
  scope: resourceGroup(dcrParts[2], dcrParts[4])
}

output metricsIngestionEndpoint string = dce.properties.metricsIngestion.endpoint
output dataCollectionRuleImmutableId string = dcr.properties.immutableId
output remoteWriteUrl string = '${dce.properties.metricsIngestion.endpoint}/dataCollectionRules/${dcr.properties.immutableId}/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24'
