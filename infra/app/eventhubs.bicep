// Event Hubs namespace (Standard, local/SAS auth disabled), the access-log hub and the
// consumer group the function app reads with.

import { tagsType } from '../types.bicep'

param namespaceName string
param eventHubName string
param consumerGroupName string = 'logmetrics'
param location string = resourceGroup().location
param tags tagsType = {}

@minValue(1)
@maxValue(32)
param partitionCount int = 8

@minValue(1)
@maxValue(7)
param retentionDays int = 1

resource namespace 'Microsoft.EventHub/namespaces@2026-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: false
  }
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2026-01-01' = {
  parent: namespace
  name: eventHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: retentionDays
  }
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2026-01-01' = {
  parent: eventHub
  name: consumerGroupName
}

output namespaceId string = namespace.id
output namespaceName string = namespace.name
// <ns>.servicebus.windows.net (EventHubConnection__fullyQualifiedNamespace)
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output eventHubName string = eventHub.name
output consumerGroupName string = consumerGroup.name
