// Role assignments. The app's user-assigned identity gets exactly what its code paths
// need (see docs/AZURE.md, "Roles"); the deploying principal optionally gets what it
// needs to load dimension rows, send test events and query the metrics.
param storageAccountName string
@description('Blob container for dead letters (storage.bicep); the app may write there.')
param deadLetterContainerName string
param eventHubNamespaceName string
param applicationInsightsName string
param azureMonitorWorkspaceName string
@description('Resource id of the Azure Monitor workspace default DCR (lives in its managed resource group).')
param dataCollectionRuleResourceId string
@description('Principal (object) id of the app\'s user-assigned identity.')
param appPrincipalId string
@description('Object id of the deploying principal; empty = no user role assignments.')
param userPrincipalId string = ''
param userPrincipalType string = 'User'

// Built-in role definition ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  monitoringDataReader: 'b0d8363b-8ddd-447d-831f-62ca05bff136'
}

resource storage 'Microsoft.Storage/storageAccounts@2026-06-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-06-01' existing = {
  parent: storage
  name: 'default'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-06-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource eventHubNamespace 'Microsoft.EventHub/namespaces@2026-01-01' existing = {
  name: eventHubNamespaceName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource azureMonitorWorkspace 'Microsoft.Monitor/accounts@2025-10-03' existing = {
  name: azureMonitorWorkspaceName
}

// ---- App identity: storage (AzureWebJobsStorage, durable state, deployment, dimensions)

// Blob: Flex deployment package, Event Hubs checkpoints + ownership, timer singleton
// lease, durable large messages/leases. Owner (not Contributor) as the Flex template uses.
resource appBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Blob, dead letters (DEADLETTER_BLOB_URI + DEADLETTER_CONTAINER): the ingest and flush
// code writes failed batches and malformed records here. Scoped on the container, not the
// account, so the code's own blob access stays granted if the host's account-wide Owner
// role above is ever narrowed.
resource appDeadLetterContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, appPrincipalId, roles.storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Queue: durable task hub control and work-item queues (entity signals).
resource appQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Table: durable history/instances tables (entity state) and reading dimension tables.
resource appTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- App identity: Event Hubs trigger (EventHubConnection__*)
resource appEventHubsReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHubNamespace.id, appPrincipalId, roles.eventHubsDataReceiver)
  scope: eventHubNamespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- App identity: Application Insights with Entra auth (local auth disabled)
resource appInsightsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- App identity: Prometheus remote write. Monitoring Metrics Publisher ON THE DCR,
// which sits in the workspace's managed resource group, hence a module at that scope.
var dcrParts = split(dataCollectionRuleResourceId, '/')

module appDcrPublisher 'dcr-role.bicep' = {
  name: 'rbac-dcr-metrics-publisher'
  scope: resourceGroup(dcrParts[2], dcrParts[4])
  params: {
    dataCollectionRuleName: last(dcrParts)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionGuid: roles.monitoringMetricsPublisher
  }
}

// ---- Deploying user (optional): load dimensions, send test events, query metrics.
resource userEventHubsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(eventHubNamespace.id, userPrincipalId, roles.eventHubsDataSender)
  scope: eventHubNamespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

resource userTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(storage.id, userPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

resource userWorkspaceReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(azureMonitorWorkspace.id, userPrincipalId, roles.monitoringDataReader)
  scope: azureMonitorWorkspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringDataReader)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}
