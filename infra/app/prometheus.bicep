// Azure Monitor workspace (managed Prometheus). Creating it makes the service create a
// default data collection endpoint and rule in a managed resource group; their ids are
// read back from properties.defaultIngestionSettings.

import { tagsType } from '../types.bicep'

param name string
param location string = resourceGroup().location
param tags tagsType = {}

resource workspace 'Microsoft.Monitor/accounts@2025-10-03' = {
  name: name
  location: location
  tags: tags
  properties: {}
}

output id string = workspace.id
output name string = workspace.name
output dataCollectionEndpointResourceId string = workspace.properties.defaultIngestionSettings.dataCollectionEndpointResourceId
output dataCollectionRuleResourceId string = workspace.properties.defaultIngestionSettings.dataCollectionRuleResourceId
// PromQL endpoint for Grafana / queries (needs Monitoring Data Reader on the workspace).
output prometheusQueryEndpoint string = workspace.properties.metrics.prometheusQueryEndpoint
