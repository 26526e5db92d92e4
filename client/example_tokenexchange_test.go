package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

func ExampleClient_TokenExchange() {
	op := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{
		{ID: "frontend", Secret: "s3cret"},
		{ID: "gateway", Secret: "s3cret"},
	}})
	defer op.Close()
	newClient := func(id string) *client.Client {
		c, err := client.New(client.Config{
			ClientID: id, ClientSecret: "s3cret",
			Endpoint: client.Endpoint{Issuer: op.Issuer, TokenURL: op.Issuer + "/token"},
			Scopes:   []string{"read", "write"},
		})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	// The token a request reached the gateway with.
	incoming, err := newClient("frontend").ClientCredentials(ctx)
	if err != nil {
		log.Fatal(err)
	}

	// The gateway trades it for a narrower token for the orders API.
	tok, err := newClient("gateway").TokenExchange(ctx, client.TokenExchangeRequest{
		SubjectToken: incoming.AccessToken,
		Resource:     []string{"https://orders.example"},
		Scopes:       []string{"read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("issued:", tok.IssuedTokenType())
	fmt.Println("scope:", tok.Extra("scope"))
	// Output:
	// issued: urn:ietf:params:oauth:token-type:access_token
	// scope: read
}
