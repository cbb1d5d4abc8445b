// Storage account for the Functions host (AzureWebJobsStorage: Event Hubs checkpoints,
// timer singleton lease, durable entity queues/tables), the Flex deployment package
// container, and the dimension tables. Shared keys are off: identity access only.

import { tagsType } from '../types.bicep'

param name string
param location string = resourceGroup().location
param tags tagsType = {}
param deploymentContainerName string

@description('Blob container for dead letters: batches that failed after their last retry and malformed records (deadletter/<lane>/<first>-<last>.jsonl.gz).')
param deadLetterContainerName string = 'deadletter'

@description('Dimension tables (alphanumeric names). PartitionKey = lookup name in pipeline.json.')
param dimensionTables string[] = [
  'gatewaycluster'
  'userlevel'
  'apimeta'
]

resource storage 'Microsoft.Storage/storageAccounts@2026-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-06-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-06-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Dead letters (DEADLETTER_CONTAINER): written by the app's identity, which gets Storage
// Blob Data Contributor on this container only (rbac.bicep).
resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-06-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Durable Functions on Azure Storage uses queues (control + work items) and tables
// (history, instances); the host creates them itself at start-up.
resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2026-06-01' = {
  parent: storage
  name: 'default'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2026-06-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2026-06-01' = [for table in dimensionTables: {
  parent: tableService
  name: table
}]

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
output deadLetterContainerName string = deadLetterContainer.name
