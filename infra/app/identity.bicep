// User-assigned managed identity shared by the function app's host (storage, Event Hubs,
// App Insights) and its own code (remote write, dimension tables) via AZURE_CLIENT_ID.

import { tagsType } from '../types.bicep'

param name string
param location string = resourceGroup().location
param tags tagsType = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
