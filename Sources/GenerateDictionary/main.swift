print("GenerateDictionary: not yet written")
