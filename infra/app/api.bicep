// The LogMetrics function app on Flex Consumption (.NET 10 isolated worker).
// Every connection is identity-based through one user-assigned identity: no keys, no
// secrets in app settings. The setting NAMES below are read by the function code and
// host.json; infra/check_settings.py checks that every expected name is set here.

import { tagsType } from '../types.bicep'

param name string
param planName string
param location string = resourceGroup().location
param tags tagsType = {}

@description('Resource id of the user-assigned identity.')
param identityId string
@description('Client id of the user-assigned identity.')
param identityClientId string

param storageAccountName string
param deploymentContainerName string
@description('Blob container for dead letters in the same storage account (DEADLETTER_CONTAINER).')
param deadLetterContainerName string

param eventHubNamespaceName string
param eventHubName string
param consumerGroupName string
@description('Lanes the flusher waits for before closing a window = event hub partition count.')
param expectedLanes int

@description('Durable task hub name (alphanumeric).')
param taskHubName string
param flushSchedule string = '*/5 * * * * *'
param shardCount int = 16

@description('Azure Monitor managed Prometheus remote-write URL (DCE + DCR immutable id).')
param remoteWriteUrl string
param applicationInsightsConnectionString string

param runtimeName string = 'dotnet-isolated'
param runtimeVersion string = '10.0'
param maximumInstanceCount int = 100
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2026-06-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2025-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: runtimeName
        version: runtimeVersion
      }
    }
  }
}

// Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION here:
// the runtime comes from functionAppConfig.runtime above.
resource appSettings 'Microsoft.Web/sites/config@2025-03-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // Host storage: Event Hubs checkpoints, timer lease, durable task hub (queues+tables).
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table

    // Event Hubs trigger connection (Connection = "EventHubConnection").
    EventHubConnection__fullyQualifiedNamespace: '${eventHubNamespaceName}.servicebus.windows.net'
    EventHubConnection__credential: 'managedidentity'
    EventHubConnection__clientId: identityClientId
    EVENTHUB_NAME: eventHubName
    EVENTHUB_CONSUMER_GROUP: consumerGroupName

    // Durable entities and the flusher.
    TASKHUB_NAME: taskHubName
    FLUSH_SCHEDULE: flushSchedule
    LOGMETRICS_SHARD_COUNT: string(shardCount)
    LOGMETRICS_EXPECTED_LANES: string(expectedLanes)

    // Remote write to Azure Monitor managed Prometheus with an Entra token.
    REMOTE_WRITE_URL: remoteWriteUrl
    REMOTE_WRITE_AUTH: 'entra'
    AZURE_CLIENT_ID: identityClientId

    // Dimension tables (gatewaycluster, userlevel, apimeta) in the same account.
    DIMENSIONS_TABLE_URI: storage.properties.primaryEndpoints.table

    // Dead letters: failed batches after their last retry and malformed records, as
    // <container>/<lane>/<first>-<last>.jsonl.gz, written with the identity above.
    DEADLETTER_BLOB_URI: storage.properties.primaryEndpoints.blob
    DEADLETTER_CONTAINER: deadLetterContainerName

    // Application Insights with Entra (AAD) auth; local auth is disabled on the component.
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  }
}

output id string = functionApp.id
output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
